"""Warnings from a message stream (NATS JetStream): the same validation and idempotency as HTTP."""

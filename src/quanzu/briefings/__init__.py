"""The daily briefing (日报) per station and for the district."""

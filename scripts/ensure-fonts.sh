#!/usr/bin/env bash
# The daily briefing's PDF (WeasyPrint) needs Pango and the Noto CJK OpenType fonts, from Debian:
# nothing is downloaded at run time. `fc-list :lang=zh` must name a Noto Sans CJK SC face.
set -euo pipefail
missing=()
fc-list :lang=zh 2>/dev/null | grep -q "Noto Sans CJK SC" || missing+=(fonts-noto-cjk fontconfig)
ldconfig -p 2>/dev/null | grep -q "libpango-1.0.so" || missing+=(libpango-1.0-0)
ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0.so" || missing+=(libpangoft2-1.0-0)
ldconfig -p 2>/dev/null | grep -q "libharfbuzz-subset.so" || missing+=(libharfbuzz-subset0)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
fc-list :lang=zh family | grep -m1 "Noto Sans CJK SC"

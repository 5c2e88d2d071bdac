"""Reports: the KPIs of DESIGN.md, computed once here for the API, the dashboard, the daily
briefing and the simulator alike."""

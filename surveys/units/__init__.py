"""Rated bodies ("units"): departments, streets, communities, teams, windows, projects."""

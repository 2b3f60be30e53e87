"""Questionnaires, campaigns, invitations and residents' responses."""

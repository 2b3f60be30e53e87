"""Subjects (leadership teams and leaders) and the 民主测评 campaign kind."""

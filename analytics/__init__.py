"""What is computed from submissions: indicators, tallies, text analysis, figures."""

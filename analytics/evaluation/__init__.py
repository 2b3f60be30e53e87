"""Results of a democratic evaluation (民主测评): per subject, counts and shares per grade, item
and rater group, the weighted score with its interval, the office's rules; the dashboard view
and the one-page report for the file (档案)."""

"""Vote analytics: margins to the threshold, budget use, the rule against Equal Shares."""

"""What people submit: rated units, questionnaires and responses, projects and ballots."""

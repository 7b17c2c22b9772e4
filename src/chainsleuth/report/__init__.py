"""What a person reads: profiles annotated with clusters and labels (and, later, case reports)."""

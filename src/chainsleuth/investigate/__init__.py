"""Service investigation: wallet expansion, customers, funding sources, case files, scoring."""

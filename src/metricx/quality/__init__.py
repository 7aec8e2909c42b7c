"""Data validation: reconciliation, hierarchy, completeness and anomaly checks, their findings
and the alerts raised past a threshold (roadmap 3.3 and 5.2)."""

"""Ad creatives: storage of synced creatives, their thumbnail copies, and the API (issue 17)."""

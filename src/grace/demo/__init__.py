"""``make run``: Grace on embedded SQLite heals a real (small) demo service, in front of you."""

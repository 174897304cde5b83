"""Grades in other systems' formats: Gradescope's results.json (later CSV and Otter)."""

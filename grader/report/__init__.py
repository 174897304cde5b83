"""What a person sees: the terminal report of one grading (later `grader status` and pictures)."""

"""Property tests: random command sequences against the rules and the activities."""

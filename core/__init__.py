"""The foundation every app may use (the API plumbing, errors, signals, the outbound HTTP guard, CSV
exports); it imports no app."""

"""lambda-canary's command line and local runtime (built on canary_core)."""

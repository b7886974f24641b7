"""The shared core of lambda-canary: everything the Lambda functions, the CLI and the local runtime share.

It imports nothing from the rest of the project: the task functions, the click handler, the local runtime and
the CLI build on it.
"""

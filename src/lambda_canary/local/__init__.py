"""The local runtime: the AWS emulator (moto) with the stack template.yaml declares, running in-process."""

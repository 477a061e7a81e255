"""soe-pipeline: the data side of Sales & Operations Execution."""

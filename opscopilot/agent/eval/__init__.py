"""The evaluation suite: golden questions over the demo plant, scored per model."""

"""Settings, logging and errors shared by every part of OpsCopilot."""

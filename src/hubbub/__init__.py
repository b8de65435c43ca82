"""hubbub: a real-time chat system built the serverless way."""

__version__ = "0.1.0"

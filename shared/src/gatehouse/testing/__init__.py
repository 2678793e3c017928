"""Test support: fixtures for real PostgreSQL and Kafka, and in-process service harnesses."""

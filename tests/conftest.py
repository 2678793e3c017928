"""Cross-service tests: the three services together on real Kafka."""

"""Edges of the backend: DynamoDB, SQS, @connections, JWKS and the Lambda environment."""

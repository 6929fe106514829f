"""identities package."""

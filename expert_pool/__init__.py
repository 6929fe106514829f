"""expert_pool package."""

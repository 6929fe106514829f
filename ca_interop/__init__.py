"""ca_interop package."""

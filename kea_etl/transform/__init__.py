"""transform stage of kea-etl."""

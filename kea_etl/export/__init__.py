"""export stage of kea-etl."""

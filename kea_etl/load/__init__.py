"""load stage of kea-etl."""

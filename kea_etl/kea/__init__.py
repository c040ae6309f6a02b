"""kea stage of kea-etl."""

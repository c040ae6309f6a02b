"""extract stage of kea-etl."""

"""Activities: the steps of an order that touch the database or a carrier."""

from service._pg import private_postgres

__all__ = ["private_postgres"]

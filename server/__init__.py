"""DentalCare Connect sync server: the only component that talks to the database."""

__version__ = "0.1.0"

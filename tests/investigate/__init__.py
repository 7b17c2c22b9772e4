"""Tests of the service investigation."""

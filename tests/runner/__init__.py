"""Tests of input-folder reading, documents and batch planning (runner/)."""

"""Veille's Scrapy project: settings, spiders (they only parse), item pipelines (one job each)."""

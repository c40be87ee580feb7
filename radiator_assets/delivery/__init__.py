"""Delivery of the reports where people read them: Google Sheets and Telegram.

Pure of Dagster: the assets and sensors of `radiator_assets.assets.delivery` and
`radiator_assets.automation.delivery_sensors` call these with their configuration.
"""

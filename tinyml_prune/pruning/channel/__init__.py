"""Structured channel/filter pruning with physical slimming.

``analyse`` finds groups of coupled channels in a functional tf_keras model, ``plan_channels``
scores them with a registered criterion and picks the channels to remove, ``prune_channels``
builds the physically smaller model and a per-layer report. See docs/channel_pruning.md.
"""
from .api import (ChannelConfig, ChannelPlan, ChannelReport, mask_channels, plan_channels,
                  prune_channels)
from .dependency import ChannelGraph, ChannelGroup, analyse
from .slim import mask_model, slim_model

__all__ = ["ChannelConfig", "ChannelGraph", "ChannelGroup", "ChannelPlan", "ChannelReport", "analyse",
           "mask_channels", "mask_model", "plan_channels", "prune_channels", "slim_model"]

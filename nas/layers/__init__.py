"""Layers: activations, conv-bn-act, squeeze-excite, channel shuffle/split."""

from nas.layers.activations import CReLU, create_act
from nas.layers.conv import ConvBnAct, make_divisible
from nas.layers.registry import ACTIVATIONS, LAYERS
from nas.layers.shuffle import ChannelShuffle, ChannelSplit, channel_shuffle
from nas.layers.squeeze_excite import SqueezeExcite

__all__ = ["ACTIVATIONS", "LAYERS", "CReLU", "ChannelShuffle", "ChannelSplit", "ConvBnAct",
           "SqueezeExcite", "channel_shuffle", "create_act", "make_divisible"]

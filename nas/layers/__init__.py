"""Layers: activations, conv-bn-act, squeeze-excite, channel shuffle/split, the classifier and weight init."""

from nas.layers.activations import CReLU, create_act
from nas.layers.classifier import Classifier, init_weights
from nas.layers.conv import ConvBnAct, make_divisible
from nas.layers.registry import ACTIVATIONS, LAYERS
from nas.layers.shuffle import ChannelShuffle, ChannelSplit, channel_shuffle
from nas.layers.squeeze_excite import SqueezeExcite

__all__ = ["ACTIVATIONS", "LAYERS", "CReLU", "ChannelShuffle", "ChannelSplit", "Classifier", "ConvBnAct",
           "SqueezeExcite", "channel_shuffle", "create_act", "init_weights", "make_divisible"]

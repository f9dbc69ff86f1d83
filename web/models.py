"""The HTTP API's JSON shapes (pydantic), so that /docs documents every field.

A vote row has exactly the fields of `vote.py --format json` (`ensemble.reading.row_record`);
`member_probs` and `image_png` are added only when asked for (?probs=true, ?image=true).
"""
from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field

MAX_IMAGE_B64 = 14 * 2**20          # base64 of a 10 MiB image


class Row(BaseModel):
    path: str = Field(description="the uploaded file's name (a label: never opened), or ?name= for a raw body")
    status: str = Field(description='"ok", or why the image could not be used (e.g. "not an image '
                                    '(unrecognised format)", "no digit found (blank image)")')
    prediction: int | None = Field(description="winning class index (null when status is not ok)")
    class_name: str | None = Field(description="the winning class's name")
    agreement: int | None = Field(description="members that voted for the winner")
    members_total: int = Field(description="members in the ensemble (agreement is out of this)")
    confidence: float | None = Field(description="the winner's mean probability over all members, 0..1")
    tie_break: bool | None = Field(description="the top classes tied on votes and summed confidence decided")
    review: str = Field(description='"yes" when agreement < ?min_agreement, "no" otherwise, "" when unread')
    label: int | None = Field(description="true class (always null for uploads)")
    label_name: str | None = None
    members: dict[str, int] | None = Field(description="each member's own prediction")
    member_probs: dict[str, list[float]] | None = Field(
        None, description="only with ?probs=true: each member's probabilities over the classes")
    image_png: str | None = Field(
        None, description="only with ?image=true: the 28x28 image the networks saw, base64 PNG")


class ReadMode(str, Enum):
    """What one image holds: `digit` (one digit: `Row`) or `number` (digits in one or more lines,
    segmented and voted on digit by digit, as `vote.py --number`: `NumberRow`)."""

    digit = "digit"
    number = "number"


class NumberDigit(BaseModel):
    index: int = Field(description="position in the number, from 0, reading order")
    line: int = Field(description="text line, from 0, top to bottom")
    prediction: int = Field(description="winning class index")
    class_name: str
    agreement: int = Field(description="members that voted for this digit's winner")
    confidence: float = Field(description="the winner's mean probability over all members, 0..1")
    tie_break: bool
    box: list[int] = Field(description="x0, y0, x1, y1 in the uploaded image's pixels")
    members: dict[str, int] = Field(description="each member's own prediction for this digit")
    pair: bool = Field(False, description="one of two touching digits that the pair reader read together: "
                                          "confidence is the pair's probability; members, agreement, probs and "
                                          "image are the members' one-digit reading of the pair's crop")
    member_probs: dict[str, list[float]] | None = Field(
        None, description="only with ?probs=true: each member's probabilities for this digit")
    image_png: str | None = Field(
        None, description="only with ?image=true: the digit's 28x28 network input, base64 PNG")


class NumberRow(BaseModel):
    """A row of ?mode=number: the fields of `vote.py --number --format json`."""

    path: str = Field(description="the uploaded file's name, or ?name= for a raw body")
    status: str = Field(description='"ok", or why the image could not be read (e.g. "no digit found")')
    text: str | None = Field(description='the number: digits by class name; lines and wide gaps become '
                                         'one space ("12 345")')
    lines: list[str] | None = Field(description="the text of each line, top to bottom")
    digits: list[NumberDigit] | None = Field(description="every digit read, in reading order")
    agreement: int | None = Field(description="the weakest digit's agreement")
    members_total: int
    confidence: float | None = Field(description="the weakest digit's confidence")
    review: str = Field(description='"yes" when the weakest agreement < ?min_agreement, "no" otherwise, "" when unread')
    label: int | str | None = Field(description="true number (always null for uploads)")
    members: dict[str, str] | None = Field(description="each member's own reading of the whole number")


class VoteResponse(BaseModel):
    members: list[str] = Field(description="member names, in the order of the per-member fields")
    class_names: list[str]
    mode: ReadMode = Field(ReadMode.digit, description="the ?mode the images were read in")
    images: list[Row | NumberRow] = Field(description="one row per uploaded image, in upload order: "
                                                      "Row for mode=digit, NumberRow for mode=number")


class Error(BaseModel):
    detail: str = Field(description="what was wrong with the request, in one line")


class Member(BaseModel):
    name: str
    arch: str = Field(description="architecture in the member registry (convpool, nopool, msn)")
    arch_args: dict
    parameters: int = Field(description="trainable parameters")
    file: str = Field(description="weight file name")
    distortion: dict | None = Field(description="the distortion it was trained with (DistortionConfig)")
    train: dict | None = Field(description="training settings")
    metrics: dict | None = Field(description="training metrics recorded in the weight file (validation error, ...)")


class MembersResponse(BaseModel):
    class_names: list[str]
    input: dict = Field(description='what the networks take, e.g. {"size": 28, "channels": 1, ...}')
    device: str
    precision: str = Field(description="the members' arithmetic: fp32, or bf16 (bfloat16 autocast)")
    members: list[Member]


class Health(BaseModel):
    status: str = "ok"
    members: int
    device: str
    precision: str = Field(description="the members' arithmetic: fp32, or bf16 (bfloat16 autocast)")
    forward_passes: int = Field(description="forward passes run by the batcher since start")
    images_voted: int = Field(description="inputs voted on since start (/ forward_passes = mean batch)")
    max_file_bytes: int = Field(description="upload limit per file")
    max_files: int = Field(description="upload limit: files per request")


class DistortionField(BaseModel):
    name: str
    label: str
    help: str = Field(description="from DistortionConfig's docstring")
    default: float
    min: float
    max: float
    step: float
    integer: bool


class DistortionSpec(BaseModel):
    fields: list[DistortionField] = Field(description="generators.DistortionConfig's fields and bounds")
    members: dict[str, dict] = Field(description="each member's training distortion")


class DistortRequest(BaseModel):
    image: str = Field(min_length=1, max_length=MAX_IMAGE_B64, description="an image as base64 (any format; e.g. a "
                       "row's image_png); it is normalized like an upload first")
    config: dict[str, float] = Field(default_factory=dict, description="DistortionConfig fields; "
                                     "missing ones take their defaults")
    seed: int = Field(0, ge=0, le=2**63 - 1)
    count: int = Field(16, ge=1, le=64)


class DistortedSample(BaseModel):
    png: str = Field(description="28x28 distorted image, base64 PNG")
    prediction: int
    class_name: str
    agreement: int


class DistortResponse(BaseModel):
    config: dict[str, float]
    seed: int
    image_png: str = Field(description="the 28x28 image before distortion")
    grid_png: str = Field(description="all samples in one picture (torchvision make_grid), base64 PNG")
    samples: list[DistortedSample]


class FeaturesRequest(BaseModel):
    image: str = Field(min_length=1, max_length=MAX_IMAGE_B64, description="an image as base64 (e.g. a row's image_png)")
    member: str = Field(min_length=1, description="a member name (GET /api/members)")
    layers: int = Field(2, ge=1, le=4, description="how many of the first convolution layers")


class FeatureLayer(BaseModel):
    name: str = Field(description="conv1, conv2, ... in the order the forward pass runs them")
    module: str = Field(description="the layer's place in the network")
    kernel: list[int]
    channels: int
    size: list[int] = Field(description="height, width of each map")
    png: str = Field(description="one tile per channel, shared scale (dark: weak, yellow: strong), base64 PNG")


class FeaturesResponse(BaseModel):
    member: str = Field(min_length=1, description="a member name (GET /api/members)")
    image_png: str
    layers: list[FeatureLayer]

"""C9 image floods: more than `max_images` images from one member in `window_s` seconds → a private
reminder to share them as a link or album; no strike (REGULATIONS.md C9).

`PolicyContext.recent.images` counts the sender's images in this group within `window_s` before
this one (`flood.count_in_window`). One reminder per burst: at the (max_images + 1)th image and
each further multiple, not on every image after it.
"""

from __future__ import annotations

from policies.base import ChatMessage, Decision, PolicyContext, Remedy, Verdict
from policies.content.flood import duration_zh, every

IMAGE_TYPES = frozenset({"image"})


class ImagesPolicy:
    """C9: not too many pictures in a short time."""

    name = "image-flood"
    rule_id = "C9"

    def __init__(self, *, max_images: int = 5, window_s: int = 300) -> None:
        if max_images < 1 or window_s < 1:
            raise ValueError("C9: max_images and window_s must be ≥ 1")
        self.max_images = max_images
        self.window_s = window_s

    def evaluate(self, message: ChatMessage, context: PolicyContext) -> list[Decision]:
        if message.msg_type not in IMAGE_TYPES or message.chat_id is None:
            return []
        images = context.recent.images + 1
        if not every(self.max_images + 1, images):
            return []
        return [
            Decision(
                self.name,
                self.rule_id,
                Verdict.REMIND,
                f"C9 图片过多：{duration_zh(self.window_s)}内发了 {images} 张图片（群规不超过 "
                f"{self.max_images} 张）。图片较多时请改用相册、网盘或文档链接。",
                evidence=(("images_in_window", f"{images}/{self.window_s}s"),),
                remedies=(Remedy.REMIND_PRIVATELY,),
            )
        ]

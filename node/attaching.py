"""The attachments' composition (附件): used by node/runtime.py `build`.

Registers the store projection that keeps the `attachments` rows in step with the
`attachment_added` events (own and replicated), opens the node's content-addressed
BlobStore (config `[attachments].dir`, default <data_dir>/attachments; leftovers of a
crash swept from its temp directory), and gives the service the peers' FetchAttachment
(the federation's client) so a tier holding only the metadata fetches the bytes on
demand. Pillow makes the thumbnails, only of images of at most `THUMBNAIL_MAX_PIXELS`
(50 megapixels: a phone's photo is 12 to 50; the bound is checked on the header, before
anything is decoded, and is far below Pillow's own decompression-bomb limit): a larger one
is 422 `attachment_image_too_large` (the file itself stays downloadable). The service
makes an image's first thumbnail once however many ask at the same time
(node/app/attachments.py `KeyedLocks`).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from node.app.attachments import AttachmentService
from node.app.policy import Principal
from node.app.service import IssueService
from node.config import Config
from node.domain.attachments import Limits
from node.domain.errors import NotFound, ValidationError
from node.domain.lifecycle import AddAttachment
from node.store.attachments import AttachmentProjection, AttachmentRecords
from node.store.blobs import FsBlobStore
from node.store.repo import Store

if TYPE_CHECKING:
    from node.runtime import Federation

THUMBNAIL_PX = 256
#: the largest image (width × height) a thumbnail is made of
THUMBNAIL_MAX_PIXELS = 50_000_000


def jpeg_thumbnail(source: BinaryIO, *, px: int = THUMBNAIL_PX,
                   max_pixels: int = THUMBNAIL_MAX_PIXELS) -> bytes:
    """A JPEG of at most `px` × `px` of an image (its first frame); 422
    `attachment_image_too_large` for an image of more than `max_pixels`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    too_large = ValidationError("attachment_image_too_large", field="file",
                                max_pixels=max_pixels)
    try:
        with Image.open(source) as image:  # the header only: nothing decoded yet
            width, height = image.size
            if width * height > max_pixels:
                raise too_large
            image.draft("RGB", (px, px))  # JPEG: decode at a reduced scale
            frame = ImageOps.exif_transpose(image) or image
            frame.thumbnail((px, px))
            out = io.BytesIO()
            frame.convert("RGB").save(out, format="JPEG", quality=80)
    except Image.DecompressionBombError:
        raise too_large from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise NotFound("attachment_not_image", attachment="") from None
    return out.getvalue()


def build_attachments(config: Config, store: Store, issues: IssueService,
                      federation: Federation | None,
                      forward: Callable[[Principal, str, AddAttachment], str] | None = None
                      ) -> AttachmentService:
    """The node's attachments; `forward`: where an enterprise's file for an issue owned
    above goes (TransferService.request_upward; None without a parent)."""
    store.projections.append(AttachmentProjection())
    section = config.attachments
    blobs = FsBlobStore(section.dir or config.node.data_dir / "attachments")
    blobs.sweep_temp()
    service = AttachmentService(
        store=AttachmentRecords(store), blobs=blobs, issues=issues,
        limits=Limits(max_file_bytes=section.max_file_bytes,
                      max_issue_bytes=max(section.max_issue_bytes, section.max_file_bytes)),
        remote=federation.client if federation is not None else None,
        thumbnailer=jpeg_thumbnail, parent=config.node.parent,
        children=frozenset(config.node.children),
        forward=forward if config.node.parent else None)
    if federation is not None:
        federation.attachments = service
    return service

"""A small REST service on FastAPI for the OpenAPI-to-MCP tests: the gateway
reads its /openapi.json (written by FastAPI, not by us) and turns its
operations into tools. In-memory books, the same three at every start.

Usage: python bookshop.py PORT    (HTTP on 127.0.0.1:PORT, document at /openapi.json)
"""

import sys
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Header, HTTPException, Query, Request, UploadFile
from pydantic import BaseModel, Field

app = FastAPI(title="Bookshop", version="1.0.0")


class Book(BaseModel):
    id: int
    title: str
    author: str
    year: int


class BookList(BaseModel):
    books: list[Book]


class NewBook(BaseModel):
    title: str
    author: str
    year: int


class Rating(BaseModel):
    stars: int = Field(ge=1, le=5)
    comment: str | None = None


class RatingGiven(BaseModel):
    book_id: int
    stars: int
    reviewer: str
    comment: str | None


class Removed(BaseModel):
    removed: int


class Cover(BaseModel):
    filename: str | None
    size: int


class WhoAmI(BaseModel):
    authorization: str | None


books: dict[int, Book] = {
    1: Book(id=1, title="A Wizard of Earthsea", author="Le Guin", year=1968),
    2: Book(id=2, title="Dune", author="Frank Herbert", year=1965),
    3: Book(id=3, title="Neuromancer", author="William Gibson", year=1984),
}
next_id = {"value": 4}


def existing(book_id: int) -> Book:
    if book_id not in books:
        raise HTTPException(status_code=404, detail=f"no book {book_id}")
    return books[book_id]


@app.get("/books", operation_id="list_books", tags=["books"], summary="List books",
         response_model=BookList)
def list_books(
    author: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> BookList:
    """The books in id order, those by `author` only if given, at most `limit`."""
    found = [b for _, b in sorted(books.items()) if author is None or b.author == author]
    return BookList(books=found[:limit])


@app.get("/books/{book_id}", operation_id="get_book", tags=["books"], summary="Get a book",
         response_model=Book)
def get_book(book_id: int) -> Book:
    """One book by its id; 404 if there is none."""
    return existing(book_id)


@app.post("/books", operation_id="add_book", tags=["books"], summary="Add a book",
          status_code=201, response_model=Book)
def add_book(new: NewBook) -> Book:
    """Adds a book under the next free id and answers it."""
    book = Book(id=next_id["value"], **new.model_dump())
    next_id["value"] += 1
    books[book.id] = book
    return book


@app.put("/books/{book_id}/rating", operation_id="rate_book", tags=["reviews"],
         summary="Rate a book", response_model=RatingGiven)
def rate_book(
    book_id: int,
    rating: Rating,
    reviewer: Annotated[str, Header(alias="x-reviewer")],
) -> RatingGiven:
    """Records a rating by the reviewer named in the x-reviewer header and echoes it."""
    existing(book_id)
    return RatingGiven(book_id=book_id, stars=rating.stars, reviewer=reviewer,
                       comment=rating.comment)


@app.delete("/books/{book_id}", operation_id="remove_book", tags=["admin"],
            summary="Remove a book", response_model=Removed)
def remove_book(book_id: int) -> Removed:
    """Removes a book; 404 if there is none."""
    existing(book_id)
    del books[book_id]
    return Removed(removed=book_id)


@app.post("/covers", operation_id="upload_cover", tags=["books"], summary="Upload a cover",
          response_model=Cover)
async def upload_cover(file: UploadFile) -> Cover:
    """Takes a cover image as a multipart upload (no JSON body) and says its size."""
    data = await file.read()
    return Cover(filename=file.filename, size=len(data))


@app.get("/whoami", operation_id="whoami", tags=["admin"], summary="Who is asking",
         response_model=WhoAmI)
def whoami(request: Request) -> WhoAmI:
    """The request's Authorization header, or null. Read from the request itself,
    so the document declares no parameter for it."""
    return WhoAmI(authorization=request.headers.get("authorization"))


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")

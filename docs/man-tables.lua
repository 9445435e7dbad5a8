-- pandoc filter for the man pages: a table becomes a list of tagged
-- paragraphs (.TP), one per row: the first cell is the tag, each other
-- cell a line "HEADER: text". tbl(1) cannot fit our tables' long names and
-- sentences into 80 columns, and man --warnings reports each one.
local function blocks_inlines(blocks)
  local out = pandoc.List()
  for i, b in ipairs(blocks) do
    if i > 1 then out:insert(pandoc.Space()) end
    if b.content then out:extend(b.content) end
  end
  return out
end

function Table(tbl)
  local header = {}
  for _, row in ipairs(tbl.head.rows) do
    for i, cell in ipairs(row.cells) do
      header[i] = pandoc.utils.stringify(cell.contents)
    end
  end
  local items = pandoc.List()
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.body) do
      local term = blocks_inlines(row.cells[1].contents)
      local defs = pandoc.List()
      for i = 2, #row.cells do
        local text = blocks_inlines(row.cells[i].contents)
        if #text > 0 then
          local line = pandoc.List()
          if header[i] and header[i] ~= '' then
            line:insert(pandoc.Emph(pandoc.Str(header[i] .. ':')))
            line:insert(pandoc.Space())
          end
          line:extend(text)
          defs:insert(pandoc.Plain(line))
        end
      end
      local sep = pandoc.List()
      for i, d in ipairs(defs) do
        sep:insert(pandoc.Para(d.content))
      end
      items:insert({term, {sep}})
    end
  end
  return pandoc.DefinitionList(items)
end

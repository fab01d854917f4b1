import { Document, Packer, Paragraph } from 'docx';
import JSZip from 'jszip';

/**
 * A real DOCX whose word/document.xml holds `paragraphs` empty paragraphs (`<w:p/>`), as in
 * issue 11: three million of them pack (DEFLATE) into a few dozen KB, unpack to 18 MB of XML, and
 * once took the embedded server to 4.5 GB of heap and down. Written by the `docx` package, then
 * repacked with jszip with [Content_Types].xml first, as Word writes it (the upload sniffer needs that).
 */
export function emptyParagraphsDocx(paragraphs: number): Promise<Buffer> {
  return docxWithBody('<w:p/>'.repeat(paragraphs));
}

/** A DOCX whose paragraph sits inside `depth` nested content controls: XML deeper than any real document. */
export function deeplyNestedDocx(depth: number): Promise<Buffer> {
  return docxWithBody(`${'<w:sdt><w:sdtContent>'.repeat(depth)}<w:p><w:r><w:t>deep</w:t></w:r></w:p>${'</w:sdtContent></w:sdt>'.repeat(depth)}`);
}

async function docxWithBody(body: string): Promise<Buffer> {
  const written = await JSZip.loadAsync(await Packer.toBuffer(new Document({ sections: [{ children: [new Paragraph('x')] }] })));
  const xml = await written.file('word/document.xml')!.async('string');
  const head = xml.slice(0, xml.indexOf('<w:body>') + '<w:body>'.length);
  const out = new JSZip();
  const names = Object.keys(written.files).filter((n) => !written.files[n]!.dir);
  for (const name of ['[Content_Types].xml', ...names.filter((n) => n !== '[Content_Types].xml')]) {
    out.file(name, name === 'word/document.xml' ? `${head}${body}</w:body></w:document>` : await written.files[name]!.async('nodebuffer'));
  }
  return out.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 9 } });
}
